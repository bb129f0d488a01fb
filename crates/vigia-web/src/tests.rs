//! Router tests without a socket: authentication, roles, CSRF, sessions,
//! rate limiting, escaping, path traversal, the API, metrics and headers.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};

use crate::headers::CSP;
use crate::testutil::*;

#[tokio::test]
async fn anonymous_requests_are_redirected_or_refused() {
    let f = Fixture::new();
    let id = f.capture(T0, "person");
    let html = [
        "/history".to_owned(),
        "/live".to_owned(),
        "/live/front.mjpg".to_owned(),
        format!("/captures/{id}"),
        format!("/media/{id}/snapshot.jpg"),
        format!("/media/{id}/thumb.jpg"),
        format!("/media/{id}/clip.mp4"),
    ];
    for uri in &html {
        let r = f.get(uri, None).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{uri}");
        assert_eq!(location(&r), "/", "{uri}");
    }
    for uri in ["/logout", &format!("/captures/{id}/delete")] {
        let r = f.post_form(uri, None, "csrf=x").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{uri}");
    }
    let api = [
        "/api/v1/captures".to_owned(),
        format!("/api/v1/captures/{id}"),
        "/api/v1/cameras".to_owned(),
        "/api/v1/session".to_owned(),
        "/metrics".to_owned(),
    ];
    for uri in &api {
        let r = f.get(uri, None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{uri}");
        assert!(body_string(r).await.contains("\"error\""), "{uri}");
    }
    let r = f
        .send(
            Request::delete(format!("/api/v1/captures/{id}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Public: health, assets, the sign-in page.
    assert_eq!(f.get("/healthz", None).await.status(), StatusCode::OK);
    let css = f.get("/assets/style.css", None).await;
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(
        css.headers()[header::CONTENT_TYPE],
        "text/css; charset=utf-8"
    );
    assert_eq!(
        f.get("/assets/logo.svg", None).await.status(),
        StatusCode::OK
    );
    assert_eq!(f.get("/assets/app.js", None).await.status(), StatusCode::OK);
    assert_eq!(
        f.get("/assets/nope.js", None).await.status(),
        StatusCode::NOT_FOUND
    );
    let login = f.get("/", None).await;
    assert_eq!(login.status(), StatusCode::OK);
    let body = body_string(login).await;
    assert!(body.contains("Test House") && body.contains("name=\"password\""));
}

#[tokio::test]
async fn signed_in_users_see_every_page() {
    let f = Fixture::new();
    let id = f.capture(T0, "person");
    let (cookie, _) = f.session("viewer");
    for uri in [
        "/history".to_owned(),
        "/live".to_owned(),
        format!("/captures/{id}"),
        format!("/media/{id}/snapshot.jpg"),
        format!("/media/{id}/thumb.jpg"),
        format!("/media/{id}/clip.mp4"),
        "/api/v1/captures".to_owned(),
        format!("/api/v1/captures/{id}"),
        "/api/v1/cameras".to_owned(),
        "/api/v1/session".to_owned(),
        "/metrics".to_owned(),
    ] {
        assert_eq!(
            f.get(&uri, Some(&cookie)).await.status(),
            StatusCode::OK,
            "{uri}"
        );
    }
    // Signed in, `/` goes straight to the history.
    let r = f.get("/", Some(&cookie)).await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/history")
    );
    // Every page has a sign-out form with the CSRF token.
    let page = body_string(f.get("/history", Some(&cookie)).await).await;
    assert!(page.contains("action=\"/logout\""));
}

async fn login_token(f: &Fixture) -> (String, String) {
    let r = f.get("/", None).await;
    let set = r.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    let token = set
        .strip_prefix("vigia_login_csrf=")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    let body = body_string(r).await;
    assert!(body.contains(&token), "form carries the token");
    (format!("vigia_login_csrf={token}"), token)
}

async fn try_login(f: &Fixture, user: &str, pw: &str, ip: [u8; 4]) -> axum::http::Response<Body> {
    let (cookie, token) = login_token(f).await;
    let form = format!("username={user}&password={pw}&csrf={token}");
    let req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(Body::from(form))
        .unwrap();
    f.send(from_ip(req, ip)).await
}

#[tokio::test]
async fn login_sets_a_strict_session_cookie_and_rejects_bad_credentials() {
    let f = Fixture::new();
    let r = try_login(&f, "admin", ADMIN_PW, [10, 0, 0, 1]).await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/history")
    );
    let cookies: Vec<_> = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("vigia_session="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"] {
        assert!(session.contains(attr), "{session}");
    }
    assert!(!session.contains("Secure"), "plain HTTP in this fixture");
    let cookie = session.split(';').next().unwrap();
    assert_eq!(
        f.get("/history", Some(cookie)).await.status(),
        StatusCode::OK
    );

    let wrong_pw = try_login(&f, "admin", "not-the-password", [10, 0, 0, 1]).await;
    assert_eq!(wrong_pw.status(), StatusCode::UNAUTHORIZED);
    let a = body_string(wrong_pw).await;
    let unknown = try_login(&f, "nobody", "not-the-password", [10, 0, 0, 1]).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let b = body_string(unknown).await;
    assert!(a.contains(crate::pages::login::BAD_CREDENTIALS));
    assert!(b.contains(crate::pages::login::BAD_CREDENTIALS));
    assert_eq!(f.state.metrics().login_failures(), 2);
}

#[tokio::test]
async fn login_without_or_with_a_wrong_csrf_token_is_forbidden() {
    let f = Fixture::new();
    let (cookie, token) = login_token(&f).await;
    let no_cookie = f
        .post_form(
            "/login",
            None,
            &format!("username=admin&password={ADMIN_PW}&csrf={token}"),
        )
        .await;
    assert_eq!(no_cookie.status(), StatusCode::FORBIDDEN);
    let no_field = f
        .post_form(
            "/login",
            Some(&cookie),
            &format!("username=admin&password={ADMIN_PW}"),
        )
        .await;
    assert_eq!(no_field.status(), StatusCode::FORBIDDEN);
    let other = "0123456789abcdef0123456789abcdef";
    let wrong = f
        .post_form(
            "/login",
            Some(&cookie),
            &format!("username=admin&password={ADMIN_PW}&csrf={other}"),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn brute_force_is_rate_limited_per_user_name() {
    let f = Fixture::new();
    for i in 0..5u8 {
        // Different addresses: only the per-user limit applies.
        let r = try_login(&f, "admin", "guess-guess", [10, 0, 1, i]).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused while locked, with a wait time.
    let r = try_login(&f, "Admin", ADMIN_PW, [10, 0, 2, 1]).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()[header::RETRY_AFTER], "300");
    assert!(body_string(r).await.contains("Try again in 300 s"));
    f.clock.advance_ms(120_000);
    let r = try_login(&f, "admin", ADMIN_PW, [10, 0, 2, 1]).await;
    assert!(body_string(r).await.contains("Try again in 180 s"));
    // Other users are not affected.
    let r = try_login(&f, "viewer", VIEWER_PW, [10, 0, 2, 1]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    f.clock.advance_ms(180_001);
    let r = try_login(&f, "admin", ADMIN_PW, [10, 0, 2, 1]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(f.state.metrics().login_rate_limited(), 2);
}

#[tokio::test]
async fn brute_force_is_rate_limited_per_ip() {
    let f = Fixture::new();
    let ip = [192, 0, 2, 7];
    for i in 0..8 {
        let r = try_login(&f, &format!("user{i}"), "guess-guess", ip).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = try_login(&f, "viewer", VIEWER_PW, ip).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(body_string(r).await.contains("Try again in 300 s"));
    let r = try_login(&f, "viewer", VIEWER_PW, [192, 0, 2, 8]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn expired_sessions_are_rejected() {
    let f = Fixture::new();
    let (cookie, _) = f.session("viewer");
    assert_eq!(
        f.get("/history", Some(&cookie)).await.status(),
        StatusCode::OK
    );
    f.clock.advance_ms(TTL_MS + 1);
    let r = f.get("/history", Some(&cookie)).await;
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, "/"));
    assert_eq!(
        f.get("/api/v1/session", Some(&cookie)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Garbage cookies are simply anonymous.
    let r = f.get("/history", Some("vigia_session=../../etc")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn logout_needs_csrf_and_ends_the_session_server_side() {
    let f = Fixture::new();
    let (cookie, csrf) = f.session("viewer");
    assert_eq!(
        f.post_form("/logout", Some(&cookie), "").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.post_form("/logout", Some(&cookie), "csrf=wrong")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let r = f
        .post_form("/logout", Some(&cookie), &format!("csrf={csrf}"))
        .await;
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, "/"));
    assert!(r.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    // The old cookie, replayed, no longer works.
    assert_eq!(
        f.get("/history", Some(&cookie)).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        f.get("/api/v1/session", Some(&cookie)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn only_admins_delete_and_only_with_the_csrf_token() {
    let f = Fixture::new();
    let id = f.capture(T0, "person");
    let uri = format!("/captures/{id}/delete");
    let (viewer, vcsrf) = f.session("viewer");
    let (admin, acsrf) = f.session("admin");
    let page = body_string(f.get(&format!("/captures/{id}"), Some(&viewer)).await).await;
    assert!(!page.contains(&uri), "viewers get no delete form");
    assert!(
        page.contains("not checked (no person detector ran)"),
        "a manifest without a person score says so"
    );
    let page = body_string(f.get(&format!("/captures/{id}"), Some(&admin)).await).await;
    assert!(page.contains(&uri) && page.contains("<details"));
    assert_eq!(
        f.post_form(&uri, Some(&viewer), &format!("csrf={vcsrf}"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.post_form(&uri, Some(&admin), "").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.post_form(&uri, Some(&admin), &format!("csrf={vcsrf}"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.get(&format!("/captures/{id}"), Some(&admin))
            .await
            .status(),
        StatusCode::OK
    );
    let r = f
        .post_form(&uri, Some(&admin), &format!("csrf={acsrf}"))
        .await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/history")
    );
    assert_eq!(
        f.get(&format!("/captures/{id}"), Some(&admin))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.get(&format!("/media/{id}/clip.mp4"), Some(&admin))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

fn api_delete(id: &str, cookie: &str, csrf: Option<&str>) -> Request<Body> {
    let mut b = Request::delete(format!("/api/v1/captures/{id}")).header(header::COOKIE, cookie);
    if let Some(c) = csrf {
        b = b.header("X-CSRF-Token", c);
    }
    b.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn api_delete_needs_admin_and_csrf_header() {
    let f = Fixture::new();
    let id = f.capture(T0, "person");
    let (viewer, vcsrf) = f.session("viewer");
    let (admin, acsrf) = f.session("admin");
    let id = id.as_str();
    assert_eq!(
        f.send(api_delete(id, &viewer, Some(&vcsrf))).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.send(api_delete(id, &admin, None)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.send(api_delete(id, &admin, Some("nope"))).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.send(api_delete(id, &admin, Some(&acsrf))).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        f.send(api_delete(id, &admin, Some(&acsrf))).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn node_strings_are_escaped_and_csp_forbids_inline_script() {
    let f = Fixture::new();
    // The store only accepts known labels, so the hostile string rides in
    // a manifest field it keeps verbatim (end_reason) and in a reflected
    // query parameter (the label filter).
    let evil = "<script>alert(1)</script>";
    let id = f.capture_of("front", T0, "person", evil);
    let (cookie, _) = f.session("viewer");
    let cases = [
        format!("/captures/{id}"),
        "/history?label=%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_owned(),
        "/api/v1/captures?label=%3Cscript%3E".to_owned(),
    ];
    for uri in &cases {
        let r = f.get(uri, Some(&cookie)).await;
        assert_eq!(r.status(), StatusCode::OK, "{uri}");
        assert_eq!(r.headers()[header::CONTENT_SECURITY_POLICY], CSP);
        let html = r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html");
        let body = body_string(r).await;
        assert!(!body.contains("<script>alert"), "{uri}");
        if html {
            assert!(
                body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{uri}"
            );
            assert!(
                !body.contains("<style") && !body.contains(" style="),
                "no inline style"
            );
        }
    }
}

#[tokio::test]
async fn traversal_attempts_are_not_found() {
    let f = Fixture::new();
    let id = f.capture(T0, "person");
    let (cookie, _) = f.session("admin");
    let attempts = [
        "/media/../../etc/passwd".to_owned(),
        "/media/%2e%2e%2f%2e%2e%2fetc%2fpasswd/snapshot.jpg".to_owned(),
        "/media/..%2F..%2Fetc%2Fpasswd/snapshot.jpg".to_owned(),
        "/media/%252e%252e%252f/snapshot.jpg".to_owned(),
        "/media/..%252F..%252Fvigia.db/clip.mp4".to_owned(),
        format!("/media/{id}/..%2F..%2F..%2Fvigia.db"),
        format!("/media/{id}/%2e%2e%2fmanifest.json"),
        format!("/media/{id}/manifest.json"),
        format!("/media/{id}/clip-init.mp4"),
        format!("/media/{id}%2F..%2F..%2Fvigia.db/clip.mp4"),
        "/media/20261118T111153120Z-0000ffff/snapshot.jpg".to_owned(),
        "/captures/..%2F..%2Fetc%2Fpasswd".to_owned(),
        "/captures/%2e%2e%2f%2e%2e%2f".to_owned(),
        "/captures/%252e%252e%252f".to_owned(),
        "/captures/../history".to_owned(),
        "/live/..%2Fvigia.db.mjpg".to_owned(),
        "/live/FRONT.mjpg".to_owned(),
        "/assets/..%2Flib.rs".to_owned(),
        "/api/v1/captures/..%2F..%2Fetc".to_owned(),
    ];
    for uri in &attempts {
        let r = f.get(uri, Some(&cookie)).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{uri}");
    }
}

#[tokio::test]
async fn history_groups_by_day_filters_and_pages() {
    let f = Fixture::new();
    let a = f.capture(T0, "person");
    let b = f.capture(T0 + 60_000, "animal");
    let c = f.capture(T0 + DAY_MS, "person");
    let d = f.capture_of("yard", T0 + DAY_MS + 1000, "motion", "quiet");
    let (cookie, _) = f.session("viewer");
    let all = body_string(f.get("/history", Some(&cookie)).await).await;
    let pos = |s: &str, id: &str| s.find(id).unwrap_or_else(|| panic!("{id} missing"));
    // Newest first, grouped under day headings.
    assert!(pos(&all, d.as_str()) < pos(&all, c.as_str()));
    assert!(pos(&all, c.as_str()) < pos(&all, b.as_str()));
    assert!(pos(&all, "<h2>2026-11-19</h2>") < pos(&all, "<h2>2026-11-18</h2>"));
    assert!(all.contains(&format!("/media/{a}/thumb.jpg")));
    let day = body_string(f.get("/history?day=2026-11-18", Some(&cookie)).await).await;
    assert!(day.contains(a.as_str()) && day.contains(b.as_str()) && !day.contains(c.as_str()));
    assert!(
        day.contains("2026-11-19 →") || day.contains("← 2026-11-19"),
        "day navigation"
    );
    let cam = body_string(f.get("/history?camera=yard", Some(&cookie)).await).await;
    assert!(cam.contains(d.as_str()) && !cam.contains(c.as_str()));
    let label = body_string(f.get("/history?label=animal", Some(&cookie)).await).await;
    assert!(label.contains(b.as_str()) && !label.contains(a.as_str()));
    // Keyset pagination.
    let p1 = body_string(f.get("/history?limit=2", Some(&cookie)).await).await;
    assert!(p1.contains(d.as_str()) && p1.contains(c.as_str()) && !p1.contains(b.as_str()));
    let next = format!("before={c}");
    assert!(p1.contains(&next), "older link");
    let p2 = body_string(
        f.get(&format!("/history?limit=2&{next}"), Some(&cookie))
            .await,
    )
    .await;
    assert!(
        p2.contains(b.as_str())
            && p2.contains(a.as_str())
            && !p2.contains(&format!("/captures/{d}"))
    );
    // Bad filters are a 400, not a 500.
    for q in ["day=yesterday", "camera=..%2F", "before=x"] {
        let r = f.get(&format!("/history?{q}"), Some(&cookie)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
    }
}

#[tokio::test]
async fn capture_page_has_video_snapshot_manifest_and_downloads() {
    let f = Fixture::new();
    let id = f.capture(T0, "person");
    let (cookie, _) = f.session("viewer");
    let page = body_string(f.get(&format!("/captures/{id}"), Some(&cookie)).await).await;
    assert!(page.contains(&format!("<video class=\"clip\" controls preload=\"metadata\" poster=\"/media/{id}/snapshot.jpg\" src=\"/media/{id}/clip.mp4\"")), "{page}");
    assert!(page.contains(&format!("/media/{id}/clip.mp4?download=1")));
    assert!(page.contains("clip-init.mp4") && page.contains("quiet"));
}

#[tokio::test]
async fn api_returns_json() {
    let f = Fixture::new();
    let id = f.capture(T0, "person");
    let (cookie, csrf) = f.session("admin");
    let page: serde_json::Value = serde_json::from_str(
        &body_string(f.get("/api/v1/captures?camera=front", Some(&cookie)).await).await,
    )
    .unwrap();
    assert_eq!(page["items"][0]["id"], id.as_str());
    let one: serde_json::Value = serde_json::from_str(
        &body_string(
            f.get(&format!("/api/v1/captures/{id}"), Some(&cookie))
                .await,
        )
        .await,
    )
    .unwrap();
    assert_eq!(one["manifest"]["label"], "person");
    assert_eq!(one["media"]["clip"], format!("/media/{id}/clip.mp4"));
    let cams: serde_json::Value =
        serde_json::from_str(&body_string(f.get("/api/v1/cameras", Some(&cookie)).await).await)
            .unwrap();
    assert_eq!(cams[0]["id"], "front");
    assert_eq!(cams[0]["captures"], 1);
    let s: serde_json::Value =
        serde_json::from_str(&body_string(f.get("/api/v1/session", Some(&cookie)).await).await)
            .unwrap();
    assert_eq!(
        (s["user"].as_str(), s["role"].as_str()),
        (Some("admin"), Some("admin"))
    );
    assert_eq!(s["csrf_token"], csrf.as_str());
    let r = f.get("/api/v1/nope", Some(&cookie)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(body_string(r).await.starts_with('{'));
    let r = f.get("/api/v1/captures?day=nope", Some(&cookie)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn metrics_for_loopback_or_signed_in_clients() {
    let f = Fixture::new();
    f.capture(T0, "person");
    f.state.live().register(&"front".parse().unwrap());
    let req = || Request::get("/metrics").body(Body::empty()).unwrap();
    assert_eq!(
        f.send(from_ip(req(), [203, 0, 113, 9])).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = f.send(from_ip(req(), [127, 0, 0, 1])).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = body_string(r).await;
    for line in [
        "vigia_captures_stored 1",
        "vigia_ingest_errors_total 0",
        "vigia_login_failures_total 0",
        "vigia_login_rate_limited_total 0",
        "vigia_live_viewers{camera=\"front\"} 0",
        "vigia_camera_online{camera=\"front\"} 0",
        "# TYPE vigia_capture_bytes gauge",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}

#[tokio::test]
async fn security_headers_on_every_response() {
    let f = Fixture::new();
    let (cookie, _) = f.session("viewer");
    for (uri, c) in [
        ("/", None),
        ("/nope", None),
        ("/history", None),
        ("/history", Some(cookie.as_str())),
        ("/healthz", None),
        ("/api/v1/session", None),
    ] {
        let r = f.get(uri, c).await;
        let h = r.headers();
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP, "{uri}");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
    }
    // Pages carry no inline script.
    let page = body_string(f.get("/live", Some(&cookie)).await).await;
    assert!(page.contains("<script src=\"/assets/app.js\" defer>"));
    assert_eq!(page.matches("<script").count(), 1);
}
