-- SPDX-License-Identifier: Apache-2.0
-- post_classify.lua - wrk script for bench/bench_serve.sh: keep-alive POST
-- /classify with a short Spanish sentence (13 words), as the original
-- service's clients send it.
wrk.method = "POST"
wrk.body = '{"text": "quiero ver las noticias de deportes de hoy en la radio por favor"}'
wrk.headers["Content-Type"] = "application/json"
