"""The users workbook imported the way a Django developer would: django-import-export 4.4.

Run by ``bench_peer.py`` in an environment of its own, never the project's:

    uv run --no-project --with 'django-import-export[xlsx]==4.4.*' --with 'django>=5' \
        --with 'psycopg[binary]' python benchmarks/peer_django.py default users.xlsx DATABASE

``create`` makes the table. ``default`` imports the file with the tool as it comes (a
ModelResource, one query and one save per row, a diff of each row); ``bulk`` with the tuning its
documentation recommends for large imports (``use_bulk`` with batches of 1,000,
``CachedInstanceLoader``, no diff). Both import through the tool's own ``import`` management
command. DATABASE is a SQLite file path or a PostgreSQL URL. The last line printed is the peak
resident memory in MB.
"""

import resource
import sys
import unicodedata
from urllib.parse import urlsplit

import django
from django.apps import AppConfig
from django.conf import settings


class PeerConfig(AppConfig):
    """This script as the Django app that holds the model."""

    name = "__main__"
    label = "peer"


def database_settings(database: str) -> dict[str, str]:
    if "://" not in database:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": database}
    url = urlsplit(database)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": url.path.lstrip("/"),
        "USER": url.username or "",
        "HOST": url.hostname or "",
        "PORT": str(url.port or 5432),
    }


MODE, WORKBOOK, DATABASE = sys.argv[1:4]
settings.configure(
    DEBUG=False,
    DATABASES={"default": database_settings(DATABASE)},
    INSTALLED_APPS=["import_export", "__main__.PeerConfig"],
    USE_TZ=True,
)
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, models  # noqa: E402
from import_export import fields, instance_loaders, resources  # noqa: E402


class PortalUser(models.Model):
    """The portal's ``portal_users`` table, without its batch references (no batches here)."""

    id = models.BigAutoField(primary_key=True)
    logon_id = models.CharField(max_length=320)
    logon_key = models.CharField(max_length=320, unique=True)
    user_type = models.CharField(max_length=16)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.CharField(max_length=320, null=True)
    phone = models.CharField(max_length=40, null=True)
    language = models.CharField(max_length=40, null=True)
    status = models.CharField(max_length=16, default="ACTIVE")
    password_hash = models.CharField(max_length=255, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "peer"
        db_table = "portal_users"


def column(attribute: str, name: str) -> fields.Field:
    return fields.Field(attribute=attribute, column_name=name)


class UserResource(resources.ModelResource):
    """The workbook's columns onto the model; an account is found by its case-folded logon."""

    logon_id = column("logon_id", "LOGONID")
    logon_key = column("logon_key", "logon_key")
    first_name = column("first_name", "FIRST_NAME")
    last_name = column("last_name", "LAST_NAME")
    user_type = column("user_type", "USER_TYPE")
    email = column("email", "EMAIL")
    status = column("status", "STATUS")
    phone = column("phone", "PHONE")
    language = column("language", "LANGUAGE")

    class Meta:
        model = PortalUser
        import_id_fields = ("logon_key",)
        fields = (
            "logon_id",
            "logon_key",
            "first_name",
            "last_name",
            "user_type",
            "email",
            "status",
            "phone",
            "language",
        )

    def before_import(self, dataset, **kwargs):  # type: ignore[no-untyped-def]
        """The same identity as the portal's: one account per NFKC case-folded logon."""
        logon = dataset.headers.index("LOGONID")
        dataset.append_col(
            lambda row: unicodedata.normalize("NFKC", str(row[logon]).strip()).casefold(),
            header="logon_key",
        )


class BulkUserResource(UserResource):
    """The documented tuning for large imports (the docs' "Performance tuning" list)."""

    class Meta(UserResource.Meta):
        use_bulk = True
        batch_size = 1000
        instance_loader_class = instance_loaders.CachedInstanceLoader
        skip_diff = True
        skip_html_diff = True


def main() -> None:
    if MODE == "create":
        with connection.schema_editor() as editor:
            editor.create_model(PortalUser)
    else:
        name = {"default": "UserResource", "bulk": "BulkUserResource"}[MODE]
        call_command("import", f"__main__.{name}", WORKBOOK, format="XLSX", interactive=False)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


if __name__ == "__main__":
    main()
