# Runs Formula/autoresearch.rb's `test do` block against a built binary, without Homebrew: the
# few parts of Homebrew's formula DSL the formula uses, defined here, then the block itself.
#
#   ruby dist/formula-test.rb Formula/autoresearch.rb BINARY
#
# What Homebrew itself adds (building from the source archive, installing completions and the
# page) is exercised by the release workflow on macOS.

require "fileutils"
require "open3"
require "pathname"
require "tmpdir"

module Utils
  def self.safe_popen_read(*args)
    out, status = Open3.capture2(*args.map(&:to_s))
    raise "#{args.join(" ")} failed" unless status.success?

    out
  end
end

class Formula
  class << self
    attr_reader :test_block, :version_string

    def url(value, **)
      @version_string = value[/v(\d+\.\d+\.\d+[^\/]*?)\.tar\.gz\z/, 1]
    end

    def test(&block)
      @test_block = block
    end

    %i[desc homepage sha256 license head depends_on].each do |name|
      define_method(name) { |*_args, **_opts| nil }
    end
  end

  attr_reader :testpath, :bin

  def initialize(bin, testpath)
    @bin = bin
    @testpath = testpath
  end

  def version
    self.class.version_string
  end

  def system(*args)
    ok = Kernel.system(*args.map(&:to_s))
    raise "failed: #{args.join(" ")}" unless ok
  end

  def shell_output(cmd, expected = 0)
    out, status = Open3.capture2e(cmd)
    raise "`#{cmd}` exited #{status.exitstatus}, not #{expected}:\n#{out}" if status.exitstatus != expected

    out
  end

  def assert_match(pattern, text)
    ok = pattern.is_a?(Regexp) ? pattern.match?(text) : text.include?(pattern)
    raise "expected #{pattern.inspect} in:\n#{text}" unless ok
  end

  def assert_path_exists(path)
    raise "#{path} does not exist" unless File.exist?(path)
  end

  def run_test
    Dir.chdir(testpath) { instance_eval(&self.class.test_block) }
  end
end

formula_file, binary = ARGV
abort "usage: ruby dist/formula-test.rb FORMULA BINARY" unless formula_file && binary
load File.expand_path(formula_file)

Dir.mktmpdir do |dir|
  bin = Pathname(dir) / "bin"
  FileUtils.mkdir_p(bin)
  FileUtils.ln_s(File.expand_path(binary), bin / "autoresearch")
  home = Pathname(dir) / "home"
  FileUtils.mkdir_p(home)
  ENV["HOME"] = home.to_s
  testpath = Pathname(dir) / "test"
  FileUtils.mkdir_p(testpath)
  # The built binary's version, for a formula whose url names another release.
  Autoresearch.url("v#{`#{binary} --version`.split.last}.tar.gz")
  Autoresearch.new(bin, testpath).run_test
end
puts "formula test: ok"
