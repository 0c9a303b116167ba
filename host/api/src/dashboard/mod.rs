//! The dashboard: a single page served at `/`, with its script, style sheet
//! and icon under `/assets/`.
//!
//! The page is plain HTML, CSS and JavaScript compiled into the binary
//! (`include_str!`): no framework, no CDN, no build step, so it works on a
//! machine without internet and always matches the host serving it. It
//! holds no data: everything it shows comes from the same API every other
//! client uses (`POST /ops/tree`, `child.info`, `child.versions`,
//! `events.recent`, and the `GET /events` stream), and what it does is an
//! operation too (`child.restart`, `child.kill`, `child.reload`,
//! `child.send`), with the bearer token the user types in (kept in the
//! tab's `sessionStorage`). It asks who that token is (`GET /whoami`) and
//! what each operation needs (`x-warden-role` in `GET /openapi.json`), and
//! leaves out the buttons the token's role may not use; the host checks
//! every call all the same. So the assets need no token themselves, and
//! this module knows nothing of the host's state. The per-child memory and
//! restart charts are drawn from samples the page itself keeps (the last
//! five minutes of the trees it fetched), not from a history on the host.
//!
//! Caching: every response carries a strong `ETag` (a hash of the embedded
//! bytes) and `Cache-Control: no-cache`, so a browser revalidates on each
//! load and gets `304 Not Modified` until the host is rebuilt with
//! different assets, never a stale script beside a new page.
//!
//! The HTML response also carries a `Content-Security-Policy` allowing only
//! this origin's own script, style and connections (the page has no inline
//! script or style), so even a child path or an event message that somehow
//! reached the DOM as markup could not run code.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::HttpError;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_str!("index.html"),
};

/// What `/assets/{file}` serves.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("app.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("style.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("favicon.svg"),
    },
];

/// The policy of the page: its own origin only, nothing inline, no frames.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The dashboard's routes, `GET /` and `GET /assets/{file}`, for merging
/// into the API server's router. They use no state, so they fit any
/// router state `S`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{file}", get(asset))
}

/// The names of the files under `/assets/`, for documentation and tests.
pub fn asset_names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.name)
}

async fn index(headers: HeaderMap) -> Response {
    let mut response = serve(&INDEX, &headers);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(asset) => serve(asset, &headers),
        None => HttpError::NoRoute {
            method: "GET".to_string(),
            path: format!("/assets/{file}"),
        }
        .into_response(),
    }
}

/// `asset` with its type, validators and cache policy; `304` when the
/// request's `If-None-Match` names the current version.
fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let tag = etag(asset);
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == tag
        });
    let common = [
        (header::ETAG, HeaderValue::from_str(tag).ok()),
        (
            header::CACHE_CONTROL,
            Some(HeaderValue::from_static("no-cache")),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            Some(HeaderValue::from_static("nosniff")),
        ),
    ];
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let h = response.headers_mut();
    for (name, value) in common {
        if let Some(value) = value {
            h.insert(name, value);
        }
    }
    response
}

/// The strong entity tag of an embedded file: a hash of its bytes, computed
/// once per file per process.
fn etag(asset: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        std::iter::once(&INDEX)
            .chain(ASSETS)
            .map(|a| {
                let mut hasher = DefaultHasher::new();
                a.body.hash(&mut hasher);
                (a.name, format!("\"{:016x}\"", hasher.finish()))
            })
            .collect()
    });
    tags.iter()
        .find(|(name, _)| *name == asset.name)
        .map_or("\"\"", |(_, tag)| tag.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_page_links_is_served() {
        for name in ["app.js", "style.css", "favicon.svg"] {
            assert!(
                INDEX.body.contains(&format!("/assets/{name}")),
                "index.html links {name}"
            );
            assert!(asset_names().any(|n| n == name), "{name} is served");
        }
    }

    /// One start tag: its lowercase name and attributes (lowercase names,
    /// values unquoted), and where the text after it starts.
    struct Tag {
        name: String,
        attributes: Vec<(String, String)>,
        end: usize,
    }

    /// The start tag at `html[at..]` (just past its `<`), if it is one.
    fn tag_at(html: &str, at: usize) -> Option<Tag> {
        let bytes = html.as_bytes();
        let mut i = at;
        while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
            i += 1;
        }
        if i == at {
            return None; // `</x>`, `<!doctype>`, a lone `<`
        }
        let name = html[at..i].to_ascii_lowercase();
        let mut attributes = Vec::new();
        loop {
            while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
                i += 1;
            }
            if i >= bytes.len() {
                return None;
            }
            if bytes[i] == b'>' {
                return Some(Tag {
                    name,
                    attributes,
                    end: i + 1,
                });
            }
            let start = i;
            while i < bytes.len()
                && !bytes[i].is_ascii_whitespace()
                && !matches!(bytes[i], b'=' | b'>' | b'/')
            {
                i += 1;
            }
            let key = html[start..i].to_ascii_lowercase();
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let mut value = String::new();
            if i < bytes.len() && bytes[i] == b'=' {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if i < bytes.len() && matches!(bytes[i], b'"' | b'\'') {
                    let quote = bytes[i];
                    let close = html[i + 1..].find(quote as char)? + i + 1;
                    value = html[i + 1..close].to_string();
                    i = close + 1;
                } else {
                    let start = i;
                    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                        i += 1;
                    }
                    value = html[start..i].to_string();
                }
            }
            attributes.push((key, value));
        }
    }

    /// Every piece of code or style in `html` that does not come from a
    /// file of this origin: `<script>` without `src` or with a body (any
    /// `type`), `<style>`, `style=`, every `on*=` event handler, and
    /// `javascript:` URLs. Comments are skipped.
    fn inline_code(html: &str) -> Vec<String> {
        let mut found = Vec::new();
        for (start, tag) in start_tags(html) {
            let has = |key: &str| tag.attributes.iter().any(|(k, _)| k == key);
            match tag.name.as_str() {
                "script" => {
                    let body = &html[tag.end..script_end(html, tag.end)];
                    if !has("src") || !body.trim().is_empty() {
                        found.push(format!("inline <script> at byte {start}"));
                    }
                }
                "style" => found.push(format!("<style> at byte {start}")),
                _ => {}
            }
            for (key, value) in &tag.attributes {
                if key.starts_with("on") {
                    found.push(format!("`{key}` handler on <{}>", tag.name));
                } else if key == "style" {
                    found.push(format!("`style` attribute on <{}>", tag.name));
                } else if value
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("javascript:")
                {
                    found.push(format!("javascript: URL in `{key}` on <{}>", tag.name));
                }
            }
        }
        found
    }

    /// Where the body of a `<script>` whose start tag ends at `from` ends:
    /// at its `</script`, or at the end of `html`.
    fn script_end(html: &str, from: usize) -> usize {
        html[from..]
            .to_ascii_lowercase()
            .find("</script")
            .map_or(html.len(), |e| from + e)
    }

    #[test]
    fn the_inline_code_check_catches_every_form() {
        for (html, what) in [
            ("<script>go()</script>", "inline <script>"),
            (
                "<script type=\"module\">import './x.js'</script>",
                "inline <script>",
            ),
            (
                "<SCRIPT TYPE=text/javascript>go()</SCRIPT>",
                "inline <script>",
            ),
            (
                "<script src=\"/assets/app.js\">go()</script>",
                "inline <script>",
            ),
            ("<button onclick=\"go()\">", "`onclick` handler"),
            ("<img src=x onerror=go()>", "`onerror` handler"),
            ("<div\nonMouseOver='go()'>", "`onmouseover` handler"),
            ("<body onload=go()>", "`onload` handler"),
            ("<input type=text onfocus = \"go()\" >", "`onfocus` handler"),
            ("<a href=\" JavaScript:go()\">x</a>", "javascript: URL"),
            ("<p style=\"color: red\">", "`style` attribute"),
            ("<style>p{}</style>", "<style>"),
        ] {
            let found = inline_code(html);
            assert!(
                found.iter().any(|f| f.starts_with(what)),
                "{html:?}: {found:?}"
            );
        }
        for clean in [
            "<script type=\"module\" src=\"/assets/app.js\"></script>",
            "<button type=button data-onclick=\"x\" aria-controls=auth>Go</button>",
            "<input name=\"once\" autocomplete=off>",
            "<p>onclick=go() is only text here</p>",
            "<!-- <script>go()</script> -->",
            "<a href=\"/docs\">docs</a>",
        ] {
            assert_eq!(inline_code(clean), Vec::<String>::new(), "{clean:?}");
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        // The Content-Security-Policy forbids them: they would not run.
        assert_eq!(inline_code(INDEX.body), Vec::<String>::new());
        // Sanity: the checker sees the page's real tags.
        assert!(
            INDEX
                .body
                .contains("<script type=\"module\" src=\"/assets/app.js\"></script>")
        );
    }

    /// Every start tag of `html` outside comments and script bodies, with
    /// where it starts.
    fn start_tags(html: &str) -> Vec<(usize, Tag)> {
        let mut tags = Vec::new();
        let mut at = 0;
        while let Some(offset) = html[at..].find('<') {
            let open = at + offset + 1;
            if html[open..].starts_with("!--") {
                at = html[open..]
                    .find("-->")
                    .map_or(html.len(), |e| open + e + 3);
                continue;
            }
            match tag_at(html, open) {
                Some(tag) => {
                    // A script's body is text, whatever `<` it holds.
                    at = if tag.name == "script" {
                        script_end(html, tag.end)
                    } else {
                        tag.end
                    };
                    tags.push((open - 1, tag));
                }
                None => at = open,
            }
        }
        tags
    }

    fn attribute(tag: &Tag, key: &str) -> Option<String> {
        tag.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// The ids of the form controls of `html` with no label: neither a
    /// `<label for=ID>` nor inside a `<label>`.
    fn unlabelled_controls(html: &str) -> Vec<String> {
        let tags = start_tags(html);
        let named: Vec<String> = tags
            .iter()
            .filter(|(_, t)| t.name == "label")
            .filter_map(|(_, t)| attribute(t, "for"))
            .collect();
        let lower = html.to_ascii_lowercase();
        tags.iter()
            .filter(|(_, t)| matches!(t.name.as_str(), "input" | "select" | "textarea"))
            .filter(|(at, t)| {
                let id = attribute(t, "id").unwrap_or_default();
                let wrapped = tags
                    .iter()
                    .take_while(|(other, _)| other < at)
                    .filter(|(_, l)| l.name == "label")
                    .last()
                    .is_some_and(|(open, _)| !lower[*open..*at].contains("</label"));
                !wrapped && (id.is_empty() || !named.contains(&id))
            })
            .map(|(at, t)| {
                attribute(t, "id").unwrap_or_else(|| format!("<{}> at byte {at}", t.name))
            })
            .collect()
    }

    #[test]
    fn the_label_check_sees_both_kinds_of_label() {
        assert_eq!(
            unlabelled_controls(
                "<label for=a>A</label><input id=a><label>B <select id=b></select></label>"
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            unlabelled_controls("<label for=a>A</label><input id=c><label>B</label> <select id=b>"),
            vec!["c".to_string(), "b".to_string()]
        );
        assert_eq!(
            unlabelled_controls("<!-- <label for=x> --><input id=x>"),
            vec!["x".to_string()]
        );
    }

    #[test]
    fn every_form_control_of_the_page_has_a_label() {
        // The send box and the token form are used from the keyboard and
        // by screen readers: each field needs a label naming it.
        assert_eq!(unlabelled_controls(INDEX.body), Vec::<String>::new());
        let tags = start_tags(INDEX.body);
        let controls = tags
            .iter()
            .filter(|(_, t)| matches!(t.name.as_str(), "input" | "select"))
            .count();
        assert_eq!(
            controls, 5,
            "the token, child, message, log child and filter fields"
        );
        // The send box is a form with a submit button, so Enter in its
        // message field sends.
        let send = tags
            .iter()
            .position(|(_, t)| t.name == "form" && attribute(t, "id").as_deref() == Some("send"))
            .expect("form#send");
        assert!(tags[send..].iter().any(|(_, t)| t.name == "button"
            && attribute(t, "type").as_deref() == Some("submit")
            && attribute(t, "id").as_deref() == Some("send-button")));
    }

    #[test]
    fn a_matching_if_none_match_gets_304() {
        let tag = etag(&ASSETS[0]);
        let mut request = HeaderMap::new();
        request.insert(header::IF_NONE_MATCH, HeaderValue::from_str(tag).unwrap());
        let response = serve(&ASSETS[0], &request);
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(response.headers()[header::ETAG], tag);
        let response = serve(&ASSETS[0], &HeaderMap::new());
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
    }
}
