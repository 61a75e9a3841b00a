-- SPDX-License-Identifier: Apache-2.0
-- post_predict.lua - wrk script for bench/bench_serve.sh: keep-alive POST
-- /predict in text-embeddings-inference's shape ({"inputs": text}) with the
-- sentence of post_classify.lua.
wrk.method = "POST"
wrk.body = '{"inputs": "quiero ver las noticias de deportes de hoy en la radio por favor"}'
wrk.headers["Content-Type"] = "application/json"
