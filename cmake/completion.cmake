# Writes the bash completion of kehu from the command table, as `kehu --help`
# prints it: every command's words, and the options named in its usage line.
# Run at build time. Inputs: KEHU (the built kehu), OUT.
execute_process(COMMAND ${KEHU} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "kehu --help failed")
endif()
string(REPLACE "\n" ";" lines "${help}")
set(table "")
set(in_commands FALSE)
foreach(line IN LISTS lines)
  if(line STREQUAL "Commands:")
    set(in_commands TRUE)
    continue()
  endif()
  if(in_commands AND line STREQUAL "")
    break()
  endif()
  # "  org add NAME --kind K ...  summary": words are the lowercase tokens first
  # (a summary running over several lines may list field names: "  name   --name, 姓名")
  if(in_commands AND line MATCHES "^  [a-z]" AND NOT line MATCHES "^  [a-z_]+ +--[a-z-]+,")
    string(REGEX REPLACE "^  " "" usage "${line}")
    string(REGEX REPLACE "  .*$" "" usage "${usage}")
    string(REPLACE " " ";" tokens "${usage}")
    set(words "")
    set(opts "")
    set(in_words TRUE)
    foreach(t IN LISTS tokens)
      if(in_words AND t MATCHES "^[a-z][a-z0-9-]*$")
        list(APPEND words ${t})
      else()
        set(in_words FALSE)
        string(REGEX MATCHALL "--[a-z][a-z0-9-]*" found "${t}")
        list(APPEND opts ${found})
      endif()
    endforeach()
    list(JOIN words " " w)
    list(REMOVE_DUPLICATES opts)
    list(JOIN opts " " o)
    string(APPEND table "    '${w}|${o}'\n")
  endif()
endforeach()
file(WRITE ${OUT}.tmp "# bash completion for kehu (generated from kehu's command table at build time)
_kehu_commands=(
${table})
_kehu_global='--server --json --csv --timeout --help'

_kehu()
{
    local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
        --server|--timeout) return ;;
    esac
    # the command words typed so far (options and their values left out)
    local typed=() i w
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=\${COMP_WORDS[i]}
        case $w in
            --server|--timeout) ((i++)) ;;
            -*) ;;
            *) typed+=(\"$w\") ;;
        esac
    done
    local so_far=\"\${typed[*]}\" next=() opts=\"\" entry words n
    for entry in \"\${_kehu_commands[@]}\"; do
        words=\${entry%%|*}
        if [[ -z $so_far ]]; then
            next+=(\"\${words%% *}\")
        elif [[ $words == \"$so_far\" ]]; then
            opts=\${entry#*|}
        elif [[ \"$words \" == \"$so_far \"* ]]; then
            n=\${words#\"$so_far \"}
            next+=(\"\${n%% *}\")
        elif [[ \"$so_far \" == \"$words \"* ]]; then
            opts=\${entry#*|} # past the words: operands and options
        fi
    done
    if [[ $cur == -* || \${#next[@]} -eq 0 ]]; then
        COMPREPLY=($(compgen -W \"$opts $_kehu_global\" -- \"$cur\"))
        [[ $cur == -* || -n $opts ]] || COMPREPLY=($(compgen -f -- \"$cur\"))
    else
        COMPREPLY=($(compgen -W \"$(printf '%s\\n' \"\${next[@]}\" | sort -u)\" -- \"$cur\"))
    fi
}
complete -F _kehu kehu
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
