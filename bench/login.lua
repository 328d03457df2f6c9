-- wrk script: password-grant logins through a public application. BENCH_LOGIN_BODY is the form
-- body, set by bench/run.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_LOGIN_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
