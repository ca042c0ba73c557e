//! Lambda `igny8-api` (scaffold; filled in by the api Lambda work).
