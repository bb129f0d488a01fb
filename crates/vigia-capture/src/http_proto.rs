//! Pure HTTP pieces for the MJPEG-over-HTTP source: camera URL parsing and
//! redaction, Basic credentials, and an incremental `chunked` decoder.
//!
//! Owns no sockets (see [`crate::http_mjpeg`] for the adapter), so every
//! parser here is unit-tested and fuzzable. Not a general HTTP client: only
//! what a camera stream needs (`http://` URLs, one GET, a streamed body).

use crate::CaptureError;

/// A parsed `http://[user[:pass]@]host[:port][/path][?query]` camera URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
    /// Percent-decoded credentials.
    pub user: Option<String>,
    pub password: Option<String>,
    /// The URL with the password replaced, safe for logs.
    pub redacted: String,
}

impl std::fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl HttpUrl {
    pub fn parse(url: &str) -> Result<Self, CaptureError> {
        let redacted = redact_url(url);
        let invalid = |reason: &str| CaptureError::InvalidUrl {
            url: redacted.clone(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("expected http://host[:port]/path"))?;
        if scheme.eq_ignore_ascii_case("https") {
            return Err(CaptureError::UnsupportedScheme {
                url: redacted,
                scheme: scheme.to_owned(),
                hint:
                    "TLS is not supported for camera streams yet; use http:// on a trusted network",
            });
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(CaptureError::UnsupportedScheme {
                url: redacted,
                scheme: scheme.to_owned(),
                hint: "only http:// MJPEG streams are supported by this source",
            });
        }
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(invalid("the path contains spaces or control characters"));
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => {
                let (user, pass) = match u.split_once(':') {
                    Some((a, b)) => (a, Some(b)),
                    None => (u, None),
                };
                let dec = |s: &str| {
                    percent_decode(s).ok_or_else(|| invalid("bad %-escape in credentials"))
                };
                (Some(dec(user)?), pass.map(dec).transpose()?)
            }
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| invalid("unclosed [ in IPv6 host"))?;
            (h, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() || host.bytes().any(|b| b.is_ascii_whitespace() || b == b'/') {
            return Err(invalid("missing or malformed host"));
        }
        let port = match port {
            None | Some("") => 80,
            Some(p) => p
                .parse()
                .map_err(|_| invalid("port is not a number 1-65535"))?,
        };
        if port == 0 {
            return Err(invalid("port is not a number 1-65535"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            path,
            user,
            password,
            redacted,
        })
    }

    /// The Host header value.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The `Authorization` header value, if the URL has credentials.
    pub fn basic_auth(&self) -> Option<String> {
        let user = self.user.as_deref()?;
        let pass = self.password.as_deref().unwrap_or("");
        Some(format!(
            "Basic {}",
            base64(format!("{user}:{pass}").as_bytes())
        ))
    }

    /// The GET request for the stream.
    pub fn request(&self) -> String {
        let mut req = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: vigia/{}\r\nAccept: */*\r\nConnection: close\r\n",
            self.path,
            self.host_header(),
            env!("CARGO_PKG_VERSION"),
        );
        if let Some(auth) = self.basic_auth() {
            req.push_str("Authorization: ");
            req.push_str(&auth);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        req
    }
}

/// Replaces the password in a URL-like string with `***`; leaves anything
/// else untouched. Works on strings that fail to parse too, so errors about
/// bad URLs never leak a secret.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let pass = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{pass}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Incremental decoder for `Transfer-Encoding: chunked`.
#[derive(Debug, Default)]
pub(crate) struct ChunkedDecoder {
    state: ChunkState,
    line: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

/// Longest chunk-size or trailer line we accept.
const MAX_CHUNK_LINE: usize = 4096;

impl ChunkedDecoder {
    /// Decodes `input`, appending payload bytes to `out`.
    pub fn decode(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        while !input.is_empty() {
            match self.state {
                ChunkState::Done => return Ok(()),
                ChunkState::Data(n) => {
                    let take = input.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                    out.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    let left = n - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::DataEnd => {
                    // CRLF after the data; tolerate LF alone or nothing.
                    match input[0] {
                        b'\r' => input = &input[1..],
                        b'\n' => {
                            input = &input[1..];
                            self.state = ChunkState::Size;
                        }
                        _ => self.state = ChunkState::Size,
                    }
                }
                ChunkState::Size | ChunkState::Trailer => {
                    let Some(nl) = input.iter().position(|&b| b == b'\n') else {
                        self.line.extend_from_slice(input);
                        if self.line.len() > MAX_CHUNK_LINE {
                            return Err("chunk header line too long".into());
                        }
                        return Ok(());
                    };
                    self.line.extend_from_slice(&input[..nl]);
                    input = &input[nl + 1..];
                    let line = std::mem::take(&mut self.line);
                    let text = String::from_utf8_lossy(&line);
                    let text = text.trim();
                    if self.state == ChunkState::Trailer {
                        if text.is_empty() {
                            self.state = ChunkState::Done;
                        }
                        continue;
                    }
                    let size = text.split(';').next().unwrap_or_default().trim();
                    let n = u64::from_str_radix(size, 16)
                        .map_err(|_| format!("bad chunk size {size:?}"))?;
                    self.state = if n == 0 {
                        ChunkState::Trailer
                    } else {
                        ChunkState::Data(n)
                    };
                }
            }
        }
        Ok(())
    }

    /// The terminating zero-size chunk (and trailers) have been read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_camera_urls() {
        let u =
            HttpUrl::parse("http://admin:p%40ss:w@cam.local:8081/video.cgi?res=hi#x").expect("ok");
        assert_eq!(u.host, "cam.local");
        assert_eq!(u.port, 8081);
        assert_eq!(u.path, "/video.cgi?res=hi");
        assert_eq!(u.user.as_deref(), Some("admin"));
        assert_eq!(u.password.as_deref(), Some("p@ss:w"));
        assert_eq!(
            u.redacted,
            "http://admin:***@cam.local:8081/video.cgi?res=hi#x"
        );
        assert_eq!(u.host_header(), "cam.local:8081");

        let u = HttpUrl::parse("HTTP://[::1]?a=b").expect("ok");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 80, "/?a=b")
        );
        assert_eq!(u.host_header(), "[::1]");
        assert_eq!(u.basic_auth(), None);

        let u = HttpUrl::parse("http://10.0.0.5").expect("ok");
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
    }

    #[test]
    fn rejects_bad_urls_without_leaking_passwords() {
        let e = HttpUrl::parse("https://u:secret@cam/x").expect_err("https");
        assert!(matches!(e, CaptureError::UnsupportedScheme { .. }));
        assert!(e.to_string().contains("TLS"));
        assert!(!e.to_string().contains("secret"));
        for bad in [
            "cam:80/x",
            "rtsp://cam/x",
            "http://:80/",
            "http://cam:99999/",
            "http://cam/a b",
            "http://u:secret@cam:x/",
        ] {
            let e = HttpUrl::parse(bad).expect_err(bad);
            assert!(!e.to_string().contains("secret"), "{e}");
        }
    }

    #[test]
    fn basic_auth_matches_rfc7617_example() {
        let u = HttpUrl::parse("http://Aladdin:open%20sesame@h/").expect("ok");
        assert_eq!(
            u.basic_auth().as_deref(),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        let req = u.request();
        assert!(req.starts_with("GET / HTTP/1.1\r\nHost: h\r\n"));
        assert!(req.contains("Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
    }

    #[test]
    fn chunked_decoding_any_split() {
        let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for at in 0..=body.len() {
            let mut d = ChunkedDecoder::default();
            let mut out = Vec::new();
            d.decode(&body[..at], &mut out).expect("ok");
            d.decode(&body[at..], &mut out).expect("ok");
            assert_eq!(out, b"hello, world", "split at {at}");
            assert!(d.is_done());
        }
        let mut d = ChunkedDecoder::default();
        assert!(d.decode(b"zz\r\n", &mut Vec::new()).is_err());
    }
}
