//! What more than one end-to-end test needs.

use girder_test::RecordedRequest;

/// Whether `req` carries the HMAC scheme's `X-Signature` over its
/// `X-Timestamp`, method and path and query, then `extra` headers' values,
/// one a line, keyed with `key`: the server's own check of a signature.
pub(crate) fn hmac_signed(req: &RecordedRequest, key: &[u8], extra: &[&str]) -> bool {
    use hmac::{Hmac, Mac};
    let (Some(ts), Some(sig)) = (req.header("x-timestamp"), req.header("x-signature")) else {
        return false;
    };
    let mut canonical = format!(
        "{ts}\n{}\n{}",
        req.method,
        req.uri.path_and_query().map_or("/", |pq| pq.as_str())
    );
    for name in extra {
        let Some(value) = req.header(name) else {
            return false;
        };
        canonical.push('\n');
        canonical.push_str(value);
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(canonical.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hex == sig
}
