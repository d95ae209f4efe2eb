//! Chain observations (being written).
