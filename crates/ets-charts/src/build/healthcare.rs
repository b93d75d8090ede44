//! The healthcare crisis-detection dashboard's figures.
