"""Push notifications to members' devices: FCM HTTP v1, and a log adapter for development."""
