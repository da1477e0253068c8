//! The include scanner: finds the files the compiler's preprocessor would
//! open for a unit, without running it, from each file's directive
//! skeleton and the compiler's predefined macros and default dirs.

pub mod codec;
pub mod expand;
pub mod lex;
pub mod macros;
pub mod skeleton;
pub mod token;
