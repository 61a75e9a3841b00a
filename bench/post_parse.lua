-- SPDX-License-Identifier: Apache-2.0
-- post_parse.lua - wrk script for bench/bench_serve.sh: keep-alive POST
-- /model/parse in Rasa's shape ({"text": text}) with the sentence of
-- post_classify.lua.
wrk.method = "POST"
wrk.body = '{"text": "quiero ver las noticias de deportes de hoy en la radio por favor"}'
wrk.headers["Content-Type"] = "application/json"
