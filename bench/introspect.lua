-- wrk script: RFC 7662 introspection of one token. IDPD_BASIC authenticates the caller,
-- IDPD_TOKEN is the token looked at.
wrk.method = "POST"
wrk.body = "token=" .. os.getenv("IDPD_TOKEN")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("IDPD_BASIC")
