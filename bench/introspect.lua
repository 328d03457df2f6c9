-- wrk script: RFC 7662 introspection of one token. The first script argument names the target:
-- BENCH_BASIC_<IDPD|PEER> authenticates the caller, BENCH_TOKEN_<IDPD|PEER> is the token.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

function init(args)
  local target = string.upper(args[1] or "idpd")
  wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC_" .. target)
  wrk.body = "token=" .. os.getenv("BENCH_TOKEN_" .. target)
end
