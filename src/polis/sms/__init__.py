"""SMS: text messages to members' phones (verification codes, notices), sent by a Celery task."""
