# Sourced: apt_mirror SUITE prints the first archive URI the machine's own
# apt sources give for SUITE (deb822 .sources files first, then one-line
# .list files), so that images are made from the mirror this machine uses
# and no address is written into the project.
apt_mirror() {
    local suite=$1 f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$suite" '
            function emit() { if (is_deb && matches && where != "" && !said) { print where; said = 1 } is_deb = 0; matches = 0; where = "" }
            /^[[:space:]]*$/ { emit(); next }
            /^Types:/ { for (i = 2; i <= NF; i++) if ($i == "deb") is_deb = 1 }
            /^URIs:/ { where = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) matches = 1 }
            /^Enabled:[[:space:]]*no/ { is_deb = 0 }
            END { emit() }' "$f"
    done
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk -v suite="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i + 1) == suite) print $i }'
}
