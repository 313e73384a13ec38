"""What is sent to parents: sandboxed email templates (``templates``), the outbox and its SMTP
delivery (``outbox``), one activation link per message, made again alike on every retry, and
argon2id passwords (``activation``)."""
