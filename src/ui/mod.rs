//! What people see: tables and json/yaml, the terminal (color, escaping), prompts,
//! progress, and error text that never quotes a credential.

pub mod causes;
pub mod output;
pub mod progress;
pub mod prompt;
pub mod redact;
pub mod table;
pub mod terminal;
