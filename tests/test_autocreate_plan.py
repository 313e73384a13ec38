"""AutoCreate's rules on plain values: the plan is a pure function of what was loaded."""

from backend.accounts.autocreate import Options
from backend.accounts.autocreate_plan import (
    Account,
    AutoCreatePlan,
    CardContact,
    State,
    StudentRow,
    plan,
)


def student(pk: int, sid: str) -> StudentRow:
    return StudentRow(pk, sid, f"Kid{pk}", "Doe", "3", "Lincoln Elementary")


def contact(
    cid: str,
    first: str,
    last: str,
    email: str | None,
    *,
    guardian: bool = True,
    portal: bool = True,
    priority: int | None = 1,
) -> CardContact:
    key = email.casefold() if email else None
    return CardContact(cid, first, last, email, key, "Mother", guardian, portal, priority)


def outcomes(result: AutoCreatePlan) -> dict[str, tuple[str, str]]:
    return {r.key or "": (r.action, r.reason) for r in result.results}


def test_the_same_person_on_two_cards_gets_one_account_for_both_students() -> None:
    state = State(
        students=[student(1, "001"), student(2, "002")],
        cards={
            1: [contact("C1", "Mia", "Lee", "mia@example.org")],
            2: [contact("C1", "Mia", "Lee", "MIA@example.org")],
        },
    )
    result = plan(state, Options())
    assert [u["logon_id"] for u in result.user_inserts] == ["mia@example.org"]
    assert [link["student_id"] for link in result.link_inserts] == [1, 2]
    assert result.attached == 2
    action, reason = outcomes(result)["002 / C1"]
    assert action == "added" and "(same person)" in reason


def test_a_family_inbox_is_one_account_in_the_first_contacts_name() -> None:
    state = State(
        students=[student(1, "001")],
        cards={
            1: [
                contact("C6", "Lin", "Ng", "ng@example.org", priority=2),
                contact("C7", "Kai", "Ng", "NG@example.org", priority=3),
            ]
        },
    )
    result = plan(state, Options())
    [user] = result.user_inserts
    assert (user["first_name"], user["logon_key"]) == ("Lin", "ng@example.org")
    assert result.created["ng@example.org"].guardian.contact_id == "C6"
    action, reason = outcomes(result)["001 / C7"]
    assert action == "skipped"
    assert "family inbox shared with contact C6" in reason
    assert len(result.link_inserts) == 1


def test_two_households_sharing_an_email_get_nothing_from_it() -> None:
    state = State(
        students=[student(4, "004"), student(5, "005")],
        cards={
            4: [contact("C8", "Pat", "Fox", "shared@example.org")],
            5: [contact("C9", "Jo", "Roe", "shared@example.org")],
        },
    )
    result = plan(state, Options())
    assert not result.user_inserts and not result.link_inserts and not result.created
    for key in ("004 / C8", "005 / C9"):
        action, reason = outcomes(result)[key]
        assert action == "skipped"
        assert "two households, one email" in reason
        assert "Pat Fox (contact C8, student 004)" in reason


def test_guardians_only_can_be_turned_off_but_portal_access_n_never() -> None:
    state = State(
        students=[student(1, "001")],
        cards={
            1: [
                contact("C4", "Bob", "Lee", "bob@example.org", guardian=False),
                contact("C5", "Kim", "Ng", "kim@example.org", portal=False),
            ]
        },
    )
    strict = outcomes(plan(state, Options()))
    assert strict["001 / C4"] == ("skipped", "Not flagged as a guardian (rule: guardians only)")
    assert "(rule: portal access)" in strict["001 / C5"][1]
    loose = plan(state, Options(guardians_only=False))
    assert {u["logon_id"] for u in loose.user_inserts} == {"bob@example.org"}
    assert "(rule: portal access)" in outcomes(loose)["001 / C5"][1]


def test_a_contact_without_email_is_skipped_and_says_so() -> None:
    state = State(students=[student(1, "001")], cards={1: [contact("C3", "Ada", "Lee", None)]})
    result = plan(state, Options())
    assert outcomes(result)["001 / C3"] == (
        "skipped",
        "No email on the contact card; add one to make an account",
    )
    assert not result.user_inserts


def test_an_existing_account_is_attached_once_and_never_created_again() -> None:
    account = Account(7, "al@example.org", "al@example.org", "GUARDIAN", "ACTIVE")
    state = State(
        students=[student(4, "004"), student(5, "005")],
        cards={
            4: [contact("C11", "Al", "Fox", "al@example.org")],
            5: [contact("C11", "Al", "Fox", "al@example.org")],
        },
        accounts={"al@example.org": account},
        links={(7, 5)},
    )
    result = plan(state, Options())
    assert not result.user_inserts
    assert [(link["user_id"], link["student_id"]) for link in result.link_inserts] == [(7, 4)]
    found = outcomes(result)
    attached = "Student attached to the existing account al@example.org"
    assert found["004 / C11"] == ("added", attached)
    assert found["005 / C11"] == ("skipped", "Already attached to al@example.org")
    assert state.links == {(7, 5)}  # the loaded state is left as it was
    off = outcomes(plan(state, Options(attach_existing=False)))
    assert off["004 / C11"][1].endswith("attaching to existing accounts is turned off")


def test_options_from_the_sheet_take_y_n_and_comma_lists() -> None:
    options = Options.from_sheet(
        {"SCHOOLS": "012, 034", "CREATE_ACCOUNTS": "n", "MAX_PRIORITY": "2", "GRADES": ""}
    )
    assert options.schools == ["012", "034"] and options.grades == []
    assert options.create_accounts is False and options.attach_existing is True
    assert options.max_priority == 2
