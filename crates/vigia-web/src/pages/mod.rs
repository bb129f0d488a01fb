//! Server-rendered HTML pages: the shared layout and small helpers.
//!
//! Templates are `maud` macros, checked at compile time, and every
//! interpolated value is HTML-escaped by maud unless wrapped in
//! `PreEscaped` (which we never do with data). Labels and manifest fields
//! are strings from nodes, so escaping is what keeps a hostile node from
//! scripting the browser; the CSP in [`crate::headers`] is the second
//! wall. Pages work without JavaScript; `/assets/app.js` only adds live
//! and clip conveniences.

pub mod capture;
pub mod history;
pub mod live;
pub mod login;

use axum::http::StatusCode;
use maud::{html, Markup, DOCTYPE};

use crate::auth::User;
use crate::csrf;
use crate::state::AppState;

/// `YYYY-MM-DD HH:MM:SS` (UTC) for people.
pub fn fmt_time(ms: i64) -> String {
    let s = vigia_base::clock::format_utc_ms(ms);
    match (s.get(..10), s.get(11..19)) {
        (Some(d), Some(t)) => format!("{d} {t}"),
        _ => s,
    }
}

/// `YYYY-MM-DD` (UTC) of a timestamp.
pub fn day_of(ms: i64) -> String {
    let s = vigia_base::clock::format_utc_ms(ms);
    s.get(..10).map_or(s.clone(), str::to_owned)
}

/// `1.2 MB` style sizes.
pub fn fmt_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Seconds with one decimal, e.g. `12.5 s`.
pub fn fmt_duration(ms: i64) -> String {
    format!("{:.1} s", ms.max(0) as f64 / 1000.0)
}

/// A coarse age for people: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
pub fn fmt_age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{} min", s / 60),
        3_600..86_400 => format!("{} h {} min", s / 3_600, s % 3_600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3_600),
    }
}

/// A hidden form field with the session's CSRF token.
pub fn csrf_field(user: &User) -> Markup {
    html! { input type="hidden" name=(csrf::FIELD) value=(user.session.csrf_token); }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) }
            link rel="stylesheet" href="/assets/style.css";
            link rel="icon" href="/assets/logo.svg" type="image/svg+xml";
            script src="/assets/app.js" defer {}
        }
    }
}

/// Which navigation entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    History,
    Live,
    Other,
}

/// The page frame for signed-in users: header with navigation and the
/// sign-out button (a POST form carrying the CSRF token).
pub fn layout(state: &AppState, user: &User, nav: Nav, title: &str, body: Markup) -> Markup {
    let name = &state.config().system_name;
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(&format!("{title} · {name}")))
            body {
                header.top {
                    a.brand href="/history" {
                        img src="/assets/logo.svg" alt="" width="28" height="28";
                        span { (name) }
                    }
                    nav {
                        a href="/history" aria-current=[(nav == Nav::History).then_some("page")] { "History" }
                        a href="/live" aria-current=[(nav == Nav::Live).then_some("page")] { "Live" }
                    }
                    form.logout method="post" action="/logout" {
                        (csrf_field(user))
                        span.who { (user.name()) " (" (user.session.user.role) ")" }
                        button type="submit" { "Sign out" }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A bare page for people who are not signed in (and for errors, which
/// are rendered without the state).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare { main { (body) } }
        }
    }
}

pub fn error_page(status: StatusCode, message: &str) -> Markup {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    bare(
        &title,
        html! {
            section.card {
                h1 { (title) }
                p { (message) }
                p { a href="/history" { "Back to the history" } }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(fmt_time(1_795_000_313_120), "2026-11-18 11:11:53");
        assert_eq!(day_of(1_795_000_313_120), "2026-11-18");
        assert_eq!(fmt_bytes(999), "999 B");
        assert_eq!(fmt_bytes(1_500_000), "1.5 MB");
        assert_eq!(fmt_duration(12_345), "12.3 s");
        assert_eq!(fmt_age(-5), "0 s");
        assert_eq!(fmt_age(59_999), "59 s");
        assert_eq!(fmt_age(754_000), "12 min");
        assert_eq!(fmt_age(11_100_000), "3 h 5 min");
        assert_eq!(fmt_age(187_200_000), "2 d 4 h");
    }
}
