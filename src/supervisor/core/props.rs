//! Property tests of the core (filled below).
