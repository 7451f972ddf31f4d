-- Rate-limit windows kept in the database (as nodes sharing PostgreSQL keep them). One
-- SQLite server counts in memory instead; the table keeps both backends' stores alike.
CREATE TABLE rate_windows (
    bucket TEXT NOT NULL,
    subject TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    PRIMARY KEY (bucket, subject)
);
