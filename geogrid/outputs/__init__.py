"""What people read: web and static maps, the workbook (台账), Markdown summary, publishing, privacy."""
