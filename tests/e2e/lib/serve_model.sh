# SPDX-License-Identifier: Apache-2.0
# serve_model.sh - sourced by the serving and predict end-to-end tests: makes a
# small servable model directory from the committed golden BERT
# (tests/golden/model: config.json + model.safetensors, 5 Spanish intents,
# vocabulary of 99) plus a vocab.txt of 99 tokens written here.
#   make_test_model DIR [LABEL_PREFIX]
# LABEL_PREFIX renames the labels (to tell two models apart after a reload).

make_test_model() {
    local dir=$1 prefix=${2:-}
    mkdir -p "$dir"
    cp tests/golden/model/model.safetensors "$dir/"
    if [ -n "$prefix" ]; then
        sed -e "s/\"saludo\"/\"${prefix}saludo\"/; s/\"despedida\"/\"${prefix}despedida\"/" \
            -e "s/\"reservar\"/\"${prefix}reservar\"/; s/\"cancelar\"/\"${prefix}cancelar\"/" \
            -e "s/\"clima\"/\"${prefix}clima\"/" tests/golden/model/config.json >"$dir/config.json"
    else
        cp tests/golden/model/config.json "$dir/"
    fi
    {
        printf '%s\n' '[PAD]' '[UNK]' '[CLS]' '[SEP]' '[MASK]'
        printf '%s\n' hola adios quiero ver las noticias reservar una mesa cancelar el clima \
            de hoy en madrid que tiempo hace buenos dias gracias por favor vuelo hotel para \
            dos personas
        for c in a b c d e f g h i j k l m n o p q r s t u v w x y z; do printf '%s\n' "$c"; done
        for c in a b c d e f g h i j k l m n o p q r s t u v w x y z; do printf '##%s\n' "$c"; done
        printf '%s\n' . , '!' '?' '¿' '¡' '[unused0]' '[unused1]' '[unused2]' '[unused3]' \
            '[unused4]' '[unused5]' '[unused6]'
    } >"$dir/vocab.txt"
}
