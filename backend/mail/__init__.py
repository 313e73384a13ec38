"""What is sent to parents: sandboxed email templates and their language variants
(``templates``), the outbox and its SMTP delivery (``outbox``), one activation link per message,
made again alike on every retry, and argon2id passwords (``activation``), and activation emails
for chosen accounts, sent or sent again (``activation_send``)."""
