//! placeholder: the lock manager (being written).
