"""What is sent to parents: sandboxed email templates (``templates``), the outbox and its SMTP
delivery (``outbox``), single-use activation tokens and argon2id passwords (``activation``)."""
