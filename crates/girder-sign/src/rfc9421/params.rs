//! The signature parameters and their serialisation (RFC 9421 §2.3).

use std::fmt::Write as _;

use super::Component;

/// The signature parameters of one signing (RFC 9421 §2.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureParams {
    /// `created`, Unix seconds.
    pub created: Option<u64>,
    /// `expires`, Unix seconds.
    pub expires: Option<u64>,
    /// `keyid`.
    pub keyid: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `alg`.
    pub alg: Option<String>,
    /// `tag`.
    pub tag: Option<String>,
}

impl SignatureParams {
    /// The `@signature-params` value: the inner list of `components` and
    /// the parameters, in the order `created`, `expires`, `keyid`,
    /// `nonce`, `alg`, `tag` (the RFC's examples use this order).
    pub fn serialize(&self, components: &[Component]) -> String {
        let mut out = String::with_capacity(128);
        out.push('(');
        for (i, component) in components.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            component.write_identifier(&mut out);
        }
        out.push(')');
        if let Some(created) = self.created {
            let _ = write!(out, ";created={created}");
        }
        if let Some(expires) = self.expires {
            let _ = write!(out, ";expires={expires}");
        }
        let strings = [
            ("keyid", &self.keyid),
            ("nonce", &self.nonce),
            ("alg", &self.alg),
            ("tag", &self.tag),
        ];
        for (name, value) in strings {
            if let Some(value) = value {
                let _ = write!(out, ";{name}=\"");
                for c in value.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
        out
    }
}
