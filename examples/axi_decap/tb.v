// A plain-Verilog testbench of axi_decap.sv (`eesp verilog axi_decap`): what a Vivado or
// Quartus user can start from. No cocotb: the stimulus and the expected outputs come
// from stimulus.hex (and its length, in stimulus.vh), which `python -m tb.axi_example DIR`
// writes from the golden model.
//
// stimulus.hex, 32-bit words ($readmemh):
//   W, then W pairs (address, data): AXI4-Lite writes (key registers, commits, CONTROL);
//   F, then per frame: O (header offset, s_axis_tuser), N (octets in), ceil(N/4) words of
//   the frame (octet 4i+j in bits 8j+7..8j of word i), M (octets expected out), the
//   expected code (m_axis_tuser), ceil(M/4) words of the expected output.
// Every write must answer OKAY; every frame out must equal the expected one, octet for
// octet, with its code. Prints "PASS <frames>" or "FAIL ..." and finishes.
`timescale 1ns / 1ps

module tb;
  reg aclk = 0, aresetn = 0;     // AXI: active-low reset, synchronous to aclk
  always #5 aclk = ~aclk;

  reg  [127:0] s_axis_tdata = 0;  reg [15:0] s_axis_tkeep = 0;  reg s_axis_tlast = 0;
  reg  [15:0]  s_axis_tuser = 0;  reg s_axis_tvalid = 0;         wire s_axis_tready;
  wire [127:0] m_axis_tdata;      wire [15:0] m_axis_tkeep;      wire m_axis_tlast;
  wire [4:0]   m_axis_tuser;      wire m_axis_tvalid;            reg m_axis_tready = 1;
  reg  [11:0]  s_axil_awaddr = 0; reg s_axil_awvalid = 0;        wire s_axil_awready;
  reg  [31:0]  s_axil_wdata = 0;  reg [3:0] s_axil_wstrb = 4'hf; reg s_axil_wvalid = 0;
  wire s_axil_wready;             wire [1:0] s_axil_bresp;       wire s_axil_bvalid;
  reg  s_axil_bready = 1;
  reg  [11:0]  s_axil_araddr = 0; reg s_axil_arvalid = 0;        wire s_axil_arready;
  wire [31:0]  s_axil_rdata;      wire [1:0] s_axil_rresp;       wire s_axil_rvalid;
  reg  s_axil_rready = 1;

  axi_decap dut (
    .aclk(aclk), .aresetn(aresetn),
    .s_axis_tdata(s_axis_tdata), .s_axis_tkeep(s_axis_tkeep), .s_axis_tlast(s_axis_tlast),
    .s_axis_tuser(s_axis_tuser), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
    .m_axis_tdata(m_axis_tdata), .m_axis_tkeep(m_axis_tkeep), .m_axis_tlast(m_axis_tlast),
    .m_axis_tuser(m_axis_tuser), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
    .s_axil_awaddr(s_axil_awaddr), .s_axil_awprot(3'b0), .s_axil_awvalid(s_axil_awvalid),
    .s_axil_awready(s_axil_awready), .s_axil_wdata(s_axil_wdata), .s_axil_wstrb(s_axil_wstrb),
    .s_axil_wvalid(s_axil_wvalid), .s_axil_wready(s_axil_wready), .s_axil_bresp(s_axil_bresp),
    .s_axil_bvalid(s_axil_bvalid), .s_axil_bready(s_axil_bready),
    .s_axil_araddr(s_axil_araddr), .s_axil_arprot(3'b0), .s_axil_arvalid(s_axil_arvalid),
    .s_axil_arready(s_axil_arready), .s_axil_rdata(s_axil_rdata), .s_axil_rresp(s_axil_rresp),
    .s_axil_rvalid(s_axil_rvalid), .s_axil_rready(s_axil_rready));

  `include "stimulus.vh"            // localparam WORDS: the words of stimulus.hex
  reg [31:0] mem [0:WORDS - 1];
  integer p, failures, frames;

  // one AXI4-Lite write: address and data offered together, then the answer
  task axil_write(input [11:0] addr, input [31:0] value);
    begin
      @(negedge aclk);
      s_axil_awaddr = addr; s_axil_awvalid = 1; s_axil_wdata = value; s_axil_wvalid = 1;
      while (s_axil_awvalid || s_axil_wvalid) begin
        @(posedge aclk);
        if (s_axil_awready) s_axil_awvalid <= 0;
        if (s_axil_wready) s_axil_wvalid <= 0;
        @(negedge aclk);
      end
      while (!s_axil_bvalid) @(negedge aclk);
      if (s_axil_bresp != 2'b00) begin
        $display("FAIL write %h: response %0d", addr, s_axil_bresp);
        failures = failures + 1;
      end
      @(posedge aclk);
    end
  endtask

  // one frame of n octets from mem[at..] into s_axis, header offset o
  task send_frame(input integer at, input integer n, input integer o);
    integer k, j;
    begin
      k = 0;
      while (k < n || (n == 0 && k == 0)) begin
        @(negedge aclk);
        s_axis_tdata = {mem[at + k / 4 + 3], mem[at + k / 4 + 2], mem[at + k / 4 + 1], mem[at + k / 4]};
        s_axis_tkeep = 0;
        for (j = 0; j < 16; j = j + 1) begin
          if (k + j < n) s_axis_tkeep[j] = 1'b1;
          else s_axis_tdata[8 * j +: 8] = 8'h00;
        end
        s_axis_tlast = (k + 16 >= n); s_axis_tuser = o; s_axis_tvalid = 1;
        @(posedge aclk);
        while (!s_axis_tready) @(posedge aclk);
        k = k + 16;
      end
      @(negedge aclk);
      s_axis_tvalid = 0;
    end
  endtask

  // the output side: every beat taken is compared with the expected frames in order
  integer want_at, want_n, want_code, got_k, expected_frames, seen_frames;
  reg [7:0] octet;
  integer lane;
  reg [31:0] queue [0:255];           // word index of each expected frame's record
  always @(posedge aclk) begin
    if (aresetn && m_axis_tvalid && m_axis_tready) begin
      if (seen_frames >= expected_frames) begin
        $display("FAIL a frame came out that was not expected");
        failures = failures + 1;
      end else begin
        want_at = queue[seen_frames];
        want_n = mem[want_at];
        want_code = mem[want_at + 1];
        if (m_axis_tuser != want_code) begin
          $display("FAIL frame %0d: code %0d, expected %0d", seen_frames, m_axis_tuser, want_code);
          failures = failures + 1;
        end
        for (lane = 0; lane < 16; lane = lane + 1)
          if (m_axis_tkeep[lane]) begin
            octet = mem[want_at + 2 + (got_k + lane) / 4] >> (8 * ((got_k + lane) % 4));
            if (got_k + lane >= want_n || m_axis_tdata[8 * lane +: 8] != octet) begin
              $display("FAIL frame %0d octet %0d: %h, expected %h", seen_frames, got_k + lane,
                       m_axis_tdata[8 * lane +: 8], octet);
              failures = failures + 1;
            end
          end
        got_k = got_k + 16;
        if (m_axis_tlast) begin
          if (got_k - 16 + $countones(m_axis_tkeep) != want_n) begin
            $display("FAIL frame %0d: %0d octets, expected %0d", seen_frames,
                     got_k - 16 + $countones(m_axis_tkeep), want_n);
            failures = failures + 1;
          end
          got_k = 0;
          seen_frames = seen_frames + 1;
        end
      end
    end
  end

  integer w, f, o, n, m, t;
  initial begin
    failures = 0; got_k = 0; seen_frames = 0; expected_frames = 0;
    $readmemh("stimulus.hex", mem);
    repeat (3) @(posedge aclk);
    aresetn = 1;
    p = 0;
    w = mem[p]; p = p + 1;
    for (t = 0; t < w; t = t + 1) begin
      axil_write(mem[p], mem[p + 1]);
      p = p + 2;
    end
    f = mem[p]; p = p + 1;
    for (t = 0; t < f; t = t + 1) begin
      o = mem[p]; n = mem[p + 1];
      send_frame(p + 2, n, o);
      p = p + 2 + (n + 3) / 4;
      m = mem[p];
      queue[expected_frames] = p;
      expected_frames = expected_frames + 1;
      p = p + 2 + (m + 3) / 4;
    end
    t = 0;
    while (seen_frames < expected_frames && t < 20000) begin
      @(posedge aclk);
      t = t + 1;
    end
    repeat (100) @(posedge aclk);
    if (seen_frames != expected_frames) begin
      $display("FAIL %0d frames out, %0d expected", seen_frames, expected_frames);
      failures = failures + 1;
    end
    if (failures == 0) $display("PASS %0d frames", seen_frames);
    $finish;
  end
endmodule
