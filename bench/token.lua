-- wrk script: client-credentials token requests with client_secret_basic.
-- IDPD_BASIC is base64(client_id ":" client_secret), set by bench/run.
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("IDPD_BASIC")
