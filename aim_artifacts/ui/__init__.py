"""What people see: HTML shared by notebooks and (later) the web page."""
