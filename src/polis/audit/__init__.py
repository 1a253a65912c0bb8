"""The audit log: who did what to which entity, written in the transaction of the change."""
