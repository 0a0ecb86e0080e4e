"""The Outlook add-in: its manifest (rendered per deployment), icons and the task pane the backend serves."""
