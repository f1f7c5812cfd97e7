"""Use cases: one function per user action (validate, compute, write, audit) and the read
models the screens show. No Qt here."""
