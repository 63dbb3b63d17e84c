/**
 * The scripts `krew-wasm completion SHELL` prints. Each one only asks `krew-wasm __complete` (see
 * complete.ts) for the words typed so far and hands the answer to the shell, so commands, options
 * and plugin names are always those of the krew-wasm on PATH.
 */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export function completionScript(shell: Shell): string {
  switch (shell) {
    case 'bash': return BASH;
    case 'zsh': return ZSH;
    case 'fish': return FISH;
  }
}

const BASH = `# bash completion for krew-wasm. Load it with:  source <(krew-wasm completion bash)
_krew_wasm() {
  local cur=\${COMP_WORDS[COMP_CWORD]} out line directive
  local -a candidates=()
  out=$(krew-wasm __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
  while IFS= read -r line; do
    case $line in
      :*) directive=\${line#:} ;;
      *) candidates+=("\${line%%$'\\t'*}") ;;
    esac
  done <<<"$out"
  COMPREPLY=()
  if [ \${#candidates[@]} -gt 0 ]; then
    local IFS=$'\\n'
    COMPREPLY=($(compgen -W "\${candidates[*]}" -- "$cur"))
  elif [ "$directive" = 0 ]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _krew_wasm krew-wasm
`;

const ZSH = `#compdef krew-wasm
# zsh completion for krew-wasm. Load it with:  source <(krew-wasm completion zsh)
# (after compinit), or save it as _krew-wasm in a folder of your $fpath.
_krew_wasm() {
  local -a lines candidates
  local line directive
  lines=("\${(@f)$(krew-wasm __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  for line in "\${lines[@]}"; do
    case $line in
      :*) directive=\${line#:} ;;
      *$'\\t'*) candidates+=("\${\${line%%$'\\t'*}//:/\\\\:}:\${line#*$'\\t'}") ;;
      ?*) candidates+=("\${line//:/\\\\:}") ;;
    esac
  done
  if (( \${#candidates} )); then
    _describe 'krew-wasm' candidates
  elif [[ $directive == 0 ]]; then
    _files
  fi
}
if (( $+functions[compdef] )); then compdef _krew_wasm krew-wasm; fi
`;

const FISH = `# fish completion for krew-wasm. Load it with:  krew-wasm completion fish | source
# (or save it as ~/.config/fish/completions/krew-wasm.fish)
function __krew_wasm_complete
    set -l words (commandline -opc)[2..-1] (commandline -ct)
    set -l out (krew-wasm __complete $words 2>/dev/null)
    set -l candidates (string match -v -r '^:' -- $out)
    if test (count $candidates) -gt 0
        printf '%s\\n' $candidates
    else if contains -- ':0' $out
        __fish_complete_path (commandline -ct)
    end
end
complete -c krew-wasm -f -a '(__krew_wasm_complete)'
`;
