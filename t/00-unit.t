#!/usr/bin/env perl
# Builds the C unit tests of the nginx-free core (under AddressSanitizer
# and UBSan) and runs them; their TAP is this test's output.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);

my $root  = abs_path(dirname(abs_path(__FILE__)) . '/..');
my $build = "$root/build";

unless (-d $build) {
    mkdir $build or do {
        print "1..0 # SKIP cannot create $build: $!\n";
        exit 0;
    };
}

my @cmd = ('make', '-s', '-f', "$root/scripts/core.mk", "ROOT=$root",
           "BUILD=$build", 'unit');

my $out = qx{cd \Q$root\E && @{[ join ' ', map { quotemeta } @cmd ]} 2>&1};
my $rc = $?;

if ($rc != 0) {
    print "1..1\n";
    print "not ok 1 - the unit tests build\n";
    print STDERR map { "# $_\n" } split /\n/, $out;
    exit 1;
}

exec "$build/unit_tests" or do {
    print "1..1\nnot ok 1 - run $build/unit_tests\n";
    print STDERR "# exec failed: $!\n";
    exit 1;
};
