"""Reading notices and working them: the sender, the commands, the queries."""
