"""Rosters from Excel (or CSV) into the members service: members, households with their residents,
enterprises, service cards.

A roster is read (`reading`), every row checked against what the reader's scope already holds
(`directory`, `checking`: the dry run), answered with a sheet of the refused rows and their
reasons (`sheets`), then sent through the members service's own commands with the reader's token
(`running`): one Idempotency-Key per row, derived from the row's natural key, so a re-import or
a run resumed after a crash makes nothing twice. The console's page (`pages/imports.py`) and
`fourlinks import` share all of it."""
