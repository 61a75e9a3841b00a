# SPDX-License-Identifier: Apache-2.0
# bash completion for intent (installed as
# $(PREFIX)/share/bash-completion/completions/intent). Sub-commands and
# their options are read from the program's own --help, so they always match
# the installed binary; options that take a file or directory complete paths.

_intent_help_words() { # PROGRAM [COMMAND]: the words the help lists
    local prog=$1 sub=${2:-}
    if [ -z "$sub" ]; then
        "$prog" --help 2>/dev/null |
            awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1; next } on && /^$/ { on = 0 }'
    else
        "$prog" "$sub" --help 2>/dev/null |
            grep -oE '(^|[ ,[])--?[a-z][a-z0-9-]*' | sed 's/^[ ,[]//' | sort -u
    fi
}

_intent() {
    local cur prev prog sub i
    COMPREPLY=()
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    prog=${COMP_WORDS[0]}
    # an unexpanded ~ or a relative name the shell resolves through PATH
    [[ $prog == "~/"* ]] && prog=$HOME/${prog#\~/}
    sub=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -*) ;;
            *) sub=${COMP_WORDS[i]}; break ;;
        esac
    done
    if [ -z "$sub" ]; then
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W '--help --version' -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$(_intent_help_words "$prog")" -- "$cur")
        fi
        return 0
    fi
    case $prev in
        --precision)
            mapfile -t COMPREPLY < <(compgen -W 'fp32 bf16 int8' -- "$cur")
            return 0 ;;
        --config|--data|--eval-data|--model|--model-name|--output|--vocab|--cache-dir|--report)
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            compopt -o filenames 2>/dev/null
            return 0 ;;
    esac
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_intent_help_words "$prog" "$sub")" -- "$cur")
        return 0
    fi
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    compopt -o filenames 2>/dev/null
    return 0
}
complete -F _intent intent
