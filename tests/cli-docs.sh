#!/bin/bash
# SPDX-License-Identifier: MIT
# The CLI's help, man page and bash completion cannot fall behind the
# commands: every command and subcommand the binary lists answers --help,
# appears in docs/man/myrelay.1 with every option of its usage line, and is
# offered by contrib/bash-completion/myrelay with those options.
: "${top_builddir:?}" "${top_srcdir:?}"
set -e
cli="$top_builddir/frontends/cli/myrelay"
man_page="$top_srcdir/docs/man/myrelay.1"
fail() { echo "FAIL: $*"; exit 1; }

# shellcheck source=/dev/null
source "$top_srcdir/contrib/bash-completion/myrelay"
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_myrelay
	echo " ${COMPREPLY[*]} "
}

# The man page as text (groff's escapes for '-' undone), one line.
if command -v groff >/dev/null 2>&1; then
	man_text=$(groff -man -Tutf8 -P-cbou "$man_page" 2>/dev/null | tr -s ' \n' ' ' |
		sed 's/\xe2\x80\x90/-/g; s/\xe2\x88\x92/-/g')
else
	man_text=$(sed 's/\\-/-/g; s/\\f[BIRP]//g; s/"//g' "$man_page" | tr -s ' \n' ' ')
fi

list_commands() { # the names under "Commands:" in a --help text
	sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }'
}

n=0
top=$("$cli" --help | list_commands)
[ "$(echo "$top" | wc -l)" -ge 15 ] || fail "too few commands listed: $top"
words=$(complete_words myrelay "")
for cmd in $top; do
	[[ $words == *" $cmd "* ]] || fail "completion does not offer \"$cmd\""
	case $cmd in
	peer | pod | node | customer | token)
		subs=$("$cli" "$cmd" --help | list_commands)
		[ -n "$subs" ] || fail "$cmd --help lists no subcommands"
		subwords=$(complete_words myrelay "$cmd" "")
		leaves=""
		for s in $subs; do
			[[ $subwords == *" $s "* ]] || fail "completion does not offer \"$cmd $s\""
			leaves="$leaves $cmd:$s"
		done
		;;
	*) leaves=$cmd ;;
	esac
	for leaf in $leaves; do
		IFS=: read -r c s <<<"$leaf"
		# shellcheck disable=SC2086 # $s is empty for commands without subcommands
		help=$("$cli" $c $s --help) || fail "myrelay $c $s --help failed"
		usage=$(echo "$help" | sed -n '1,/^$/p')
		echo "$usage" | grep -q "^Usage: myrelay $c${s:+ $s}" || fail "$c $s: usage line"
		if [ "$c" != help ] && [ "$c" != version ]; then
			[[ $man_text == *"$c${s:+ $s}"* ]] || fail "man page lacks \"$c $s\""
		fi
		opts=$(echo "$usage" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
		if [ -n "$s" ]; then
			offered=$(complete_words myrelay "$c" "$s" --)
		else
			offered=$(complete_words myrelay "$c" --)
		fi
		for o in $opts --json --help; do
			[[ $man_text == *"$o"* ]] || fail "man page lacks $o ($c $s)"
			[[ $offered == *" $o "* ]] || fail "completion of \"$c $s\" lacks $o"
		done
		n=$((n + 1))
	done
done
echo "ok: $n commands: --help, man page and completion agree"
