"""Email: notifications, the activity report for admins and media contacts, over SMTP."""
