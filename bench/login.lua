-- wrk script: password-grant logins of one user through a public application.
-- IDPD_LOGIN_BODY is the form body, set by bench/run.
wrk.method = "POST"
wrk.body = os.getenv("IDPD_LOGIN_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
