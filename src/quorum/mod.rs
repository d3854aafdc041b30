pub mod zab;
