-- wrk script: client-credentials token requests with client_secret_basic.
-- The first script argument names the target: BENCH_BASIC_<IDPD|PEER> is base64(id ":" secret).
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

function init(args)
  local basic = os.getenv("BENCH_BASIC_" .. string.upper(args[1] or "idpd"))
  if basic then
    wrk.headers["Authorization"] = "Basic " .. basic
  end
end
