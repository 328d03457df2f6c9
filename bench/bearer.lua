-- wrk script: GET with a bearer token (BENCH_BEARER), for /v1/me and the admin API.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_BEARER")
