# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_hermes_relayhost_global_optspecs
    string join \n h/help V/version
end

function __fish_hermes_relayhost_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_hermes_relayhost_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_hermes_relayhost_using_subcommand
    set -l cmd (__fish_hermes_relayhost_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c hermes-relayhost -n "__fish_hermes_relayhost_needs_command" -s h -l help -d 'Print help'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_needs_command" -s V -l version -d 'Print version'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_needs_command" -f -a "apply" -d 'Apply the module options from a JSON args file: rows, main.cf, sasl_passwd, reload'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_needs_command" -f -a "doctor" -d 'Check a host without changing anything (SASL plugins, map type, key/relayhost match, file modes, drift between rows, files and Postfix); exit 1 when a check fails'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_needs_command" -f -a "rotate-key" -d 'Re-encrypt every stored credential with a new key and install it (crash-safe; a re-run finishes a half-done rotation). Args: `key_file`, `new_key_file`, `cipher`, `new_cipher`, `database`, `root`; no relay options'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_needs_command" -f -a "reload" -d 'Reload Postfix through `postfix_exec` and `postfix_exec_dir` if it runs (a warning, not a failure, when it does not). Args: the location options only'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_needs_command" -f -a "schema" -d 'Print the JSON schema of the module options'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_needs_command" -f -a "init" -d 'Create a local Hermes-like root (key, template, Postfix dir, SQLite DB) to try it on; prints the module options that point at it'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_needs_command" -f -a "completions" -d 'Print a shell completion script (e.g. `completions bash > /etc/bash_completion.d/hermes-relayhost`)'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand apply" -l args-file -d 'JSON args file (the module options), or `-` for stdin (keeps secrets out of argv)' -r -F
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand apply" -l format -d 'Output format [default: human when stdout is a terminal, else json]' -r -f -a "human\t'A line per change, check or warning and the masked diff, coloured on a terminal'
json\t'The JSON result object (the module\'s), one line; what scripts, Salt and CI read'"
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand apply" -l check -d 'Report what would change; write nothing'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand apply" -l diff -d 'Show the masked diff (json format: in the result and as a unified diff on stderr)'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand apply" -l exit-code -d 'With --check: exit 2 when changes are pending (a CI drift gate)'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand apply" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand doctor" -l args-file -d 'JSON args file (the module options), or `-` for stdin (keeps secrets out of argv)' -r -F
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand doctor" -l format -d 'Output format [default: human when stdout is a terminal, else json]' -r -f -a "human\t'A line per change, check or warning and the masked diff, coloured on a terminal'
json\t'The JSON result object (the module\'s), one line; what scripts, Salt and CI read'"
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand rotate-key" -l args-file -d 'JSON args file (the module options), or `-` for stdin (keeps secrets out of argv)' -r -F
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand rotate-key" -l format -d 'Output format [default: human when stdout is a terminal, else json]' -r -f -a "human\t'A line per change, check or warning and the masked diff, coloured on a terminal'
json\t'The JSON result object (the module\'s), one line; what scripts, Salt and CI read'"
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand rotate-key" -l check -d 'Report how many values would be re-encrypted; write nothing'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand rotate-key" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand reload" -l args-file -d 'JSON args file (the module options), or `-` for stdin (keeps secrets out of argv)' -r -F
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand reload" -l format -d 'Output format [default: human when stdout is a terminal, else json]' -r -f -a "human\t'A line per change, check or warning and the masked diff, coloured on a terminal'
json\t'The JSON result object (the module\'s), one line; what scripts, Salt and CI read'"
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand reload" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand schema" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand init" -l root -d 'Directory to create the root in (created if missing)' -r -F
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand init" -l format -d 'Output format [default: human when stdout is a terminal, else json: the module options, ready to be an args file]' -r -f -a "human\t'A line per change, check or warning and the masked diff, coloured on a terminal'
json\t'The JSON result object (the module\'s), one line; what scripts, Salt and CI read'"
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand help; and not __fish_seen_subcommand_from apply doctor rotate-key reload schema init completions help" -f -a "apply" -d 'Apply the module options from a JSON args file: rows, main.cf, sasl_passwd, reload'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand help; and not __fish_seen_subcommand_from apply doctor rotate-key reload schema init completions help" -f -a "doctor" -d 'Check a host without changing anything (SASL plugins, map type, key/relayhost match, file modes, drift between rows, files and Postfix); exit 1 when a check fails'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand help; and not __fish_seen_subcommand_from apply doctor rotate-key reload schema init completions help" -f -a "rotate-key" -d 'Re-encrypt every stored credential with a new key and install it (crash-safe; a re-run finishes a half-done rotation). Args: `key_file`, `new_key_file`, `cipher`, `new_cipher`, `database`, `root`; no relay options'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand help; and not __fish_seen_subcommand_from apply doctor rotate-key reload schema init completions help" -f -a "reload" -d 'Reload Postfix through `postfix_exec` and `postfix_exec_dir` if it runs (a warning, not a failure, when it does not). Args: the location options only'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand help; and not __fish_seen_subcommand_from apply doctor rotate-key reload schema init completions help" -f -a "schema" -d 'Print the JSON schema of the module options'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand help; and not __fish_seen_subcommand_from apply doctor rotate-key reload schema init completions help" -f -a "init" -d 'Create a local Hermes-like root (key, template, Postfix dir, SQLite DB) to try it on; prints the module options that point at it'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand help; and not __fish_seen_subcommand_from apply doctor rotate-key reload schema init completions help" -f -a "completions" -d 'Print a shell completion script (e.g. `completions bash > /etc/bash_completion.d/hermes-relayhost`)'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand help; and not __fish_seen_subcommand_from apply doctor rotate-key reload schema init completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hermes-relayhost -n "__fish_hermes_relayhost_using_subcommand completions" -f -a "bash elvish fish powershell zsh"
