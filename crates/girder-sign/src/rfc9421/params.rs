//! The signature parameters and their serialisation (RFC 9421 §2.3).

use super::Component;
use super::component::Covered;
use crate::encode::Sink;

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
        let covered = Covered {
            listed: components,
            extra: None,
        };
        self.as_ref().write(&mut out, covered);
        out
    }

    pub(crate) fn as_ref(&self) -> ParamsRef<'_> {
        ParamsRef {
            created: self.created,
            expires: self.expires,
            keyid: self.keyid.as_deref(),
            nonce: self.nonce.as_deref(),
            alg: self.alg.as_deref(),
            tag: self.tag.as_deref(),
        }
    }
}

/// [`SignatureParams`] borrowed: what one signing needs, without copying
/// the key id, tag or nonce into `String`s.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParamsRef<'a> {
    pub(crate) created: Option<u64>,
    pub(crate) expires: Option<u64>,
    pub(crate) keyid: Option<&'a str>,
    pub(crate) nonce: Option<&'a str>,
    pub(crate) alg: Option<&'a str>,
    pub(crate) tag: Option<&'a str>,
}

impl ParamsRef<'_> {
    /// [`SignatureParams::serialize`] into `out`.
    pub(crate) fn write(&self, out: &mut impl Sink, components: Covered<'_>) {
        out.put("(");
        for (i, component) in components.iter().enumerate() {
            if i > 0 {
                out.put(" ");
            }
            component.write_identifier(out);
        }
        out.put(")");
        if let Some(created) = self.created {
            out.put(";created=");
            out.put_u64(created);
        }
        if let Some(expires) = self.expires {
            out.put(";expires=");
            out.put_u64(expires);
        }
        let strings = [
            ("keyid", self.keyid),
            ("nonce", self.nonce),
            ("alg", self.alg),
            ("tag", self.tag),
        ];
        for (name, value) in strings {
            if let Some(value) = value {
                out.put(";");
                out.put(name);
                out.put("=\"");
                // An sf-string: `"` and `\` escaped.
                let mut rest = value;
                while let Some(i) = rest.find(['"', '\\']) {
                    out.put(&rest[..i]);
                    out.put("\\");
                    out.put(&rest[i..=i]);
                    rest = &rest[i + 1..];
                }
                out.put(rest);
                out.put("\"");
            }
        }
    }
}
