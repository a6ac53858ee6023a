"""Period 通报 (weekly, monthly, quarterly reports): composed from the read model into a document of sections,
tables and charts (:mod:`.document`), rendered to PNG, PDF and Markdown (:mod:`.render`), written under
``var/reports/`` (:mod:`.files`) on demand or on schedule (:mod:`.schedule`, :mod:`.scheduler`)."""
