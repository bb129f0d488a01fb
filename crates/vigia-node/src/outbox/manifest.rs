//! The outbox's file formats. The manifest (written last: the capture is
//! complete) and the journal (`event.json`, rewritten after every finished
//! file while the event runs) are shared with the server, which verifies the
//! first and completes captures cut short from the second, so both live in
//! `vigia_base::manifest`.

pub use vigia_base::manifest::{
    FileEntry, FileKind, Journal, Manifest, Scores, JOURNAL_NAME, MANIFEST_NAME, MANIFEST_VERSION,
};
